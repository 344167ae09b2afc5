/* Internals shared by the files of the object store (src/s3/). */
#ifndef TW_S3_INTERNAL_H
#define TW_S3_INTERNAL_H
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "auth/chunked.h"
#include "core/buf.h"
#include "core/checksum.h"
#include "core/crypto.h"
#include "s3/s3.h"
#include "store/blobs.h"
#include "store/s3_uploads.h"

#define TW_S3_MAX_OBJECT (5ULL << 30) /* single PUT */

struct tw_s3 {
  tw_store *store;
  struct tw_events *events; /* notifications are published here */
  tw_credentials *creds;
  struct tw_blobs *blobs; /* object and part bodies */
  char region[64];
  char account[32];
  char domain[256]; /* virtual-hosted style base domain; "" = path-style only */
  int lifecycle_day_seconds;
  pthread_mutex_t mu; /* orders writes to one key: conditional PUTs, sequencers */
  uint64_t sequencer;
  struct s3_cors_state *cors;     /* s3_cors.c: per-bucket rules, cached */
  struct s3_lifecycle_state *lc;  /* s3_lifecycle.c: rules and the sweeper thread */
  struct s3_post_state *post;     /* s3_post.c */
  struct s3_gc_state *gc;         /* s3_gc.c: bodies of writes in flight, the sweep */
  struct s3_copy_state *copy;     /* s3_copy.c: the copy threads and their queue */
  struct s3_policy_state *policy; /* s3_policy.c: bucket policies, cached */
  struct s3_acl_state *acl;       /* s3_acl.c: bucket owners, ownership, ACLs, cached */
  int cluster; /* cluster mode: the store is shared with other nodes (s3_cluster.c) */
  struct s3_cluster_state *cl; /* s3_cluster.c: the settings versions the caches hold */
};

typedef struct s3_copy_job s3_copy_job;

typedef struct s3_ctx s3_ctx;
typedef void (*s3_handler)(tw_request *r, s3_ctx *x);

struct s3_ctx {
  tw_s3 *s3;
  char *bucket; /* NULL: the service (ListBuckets) */
  char *key;    /* decoded; NULL: the bucket itself */
  size_t key_len;
  int vhost;     /* the bucket came from the Host header (virtual-hosted style) */
  int anonymous; /* unsigned: a bucket policy must grant it (s3_policy.c) */
  json_t *q;     /* decoded query parameters */
  s3_handler handler;
  /* streamed PUT body */
  tw_blob_writer blob;
  int blob_open;
  tw_hash *md5, *sha256;
  uint64_t received, expected;
  int has_expected;
  /* a large body's small pieces, gathered so they are hashed and written in
   * big ones (s3_object_put.c) */
  char *pend;
  size_t npend;
  char content_sha256[96];
  /* SigV4 details, for aws-chunked chunk signatures */
  uint8_t signing_key[32];
  char amz_date[17], scope[128], seed_signature[65];
  tw_chunked *chunked;
  tw_cksum cksum;      /* the object's checksum, computed as the body streams */
  char cksum_want[64]; /* the value the client sent in a header (or trailer) */
  int cksum_in_trailer;
  int cksum_default;    /* no checksum asked for: S3 computes CRC64NVME itself */
  tw_cksum cksum_extra; /* CRC64NVME beside another, for a multipart object's own (s3_mpu.c) */
  int get_retries;
  /* after a commit */
  char old_blob[37]; /* the body the write's row replaced: unlinked once committed */
  char new_blob[37]; /* the body the write's row names: unlinked if the commit fails */
  json_t *result;    /* handler state kept across a commit wait */
  char etag[80];
  void *post;        /* s3_post.c: the form being parsed */
  json_t *tags;      /* the tag set a write stores (s3_tagging.c), or NULL */
  s3_copy_job *copy; /* s3_copy.c: the copy the request is parked for */
  /* s3_versions.c: x-amz-version-id (when set) and x-amz-delete-marker of
   * the answer (tw_s3_add_common_headers adds them) */
  char version_id[40];
  int delete_marker;
  char *acl; /* s3_acl.c: the owner and grants a write stores (JSON), or NULL */
  /* cluster mode (s3_cluster.c): the bucket's row as the request read it
   * first (bk_known), before its authorization */
  int bk_known, bk_found, bk_versioning;
};

/* s3_copy.c: copying bodies on the copy threads while the request is parked.
 * tw_s3_copy_start queues work(arg) and parks the request; `then` runs on an
 * HTTP thread once it is done, and takes arg back with tw_s3_copy_take (rc:
 * what work returned, -1 when it did not run; *stopping: the copy was cut
 * short by a shutdown or by the client hanging up). discard(arg) frees an arg
 * nobody took (the client went away), removing the body work made. */
int tw_s3_copy_open(tw_s3 *s);
void tw_s3_copy_stop(tw_s3 *s, int abort_jobs); /* finishes (or aborts) the jobs, joins */
void tw_s3_copy_close(tw_s3 *s);
void tw_s3_copy_start(tw_request *r, s3_ctx *x, int (*work)(void *arg, s3_copy_job *j),
                      void (*discard)(void *arg), void *arg, void (*then)(tw_request *r));
void *tw_s3_copy_take(tw_request *r, s3_ctx *x, int *rc, int *stopping);
/* For work: 1 when it should stop (the cheap check, every chunk) ... */
int tw_s3_copy_cancelled(s3_copy_job *j);
/* ... and the one that also looks whether the client hung up (now and then). */
int tw_s3_copy_check(s3_copy_job *j);

/* s3_http.c */
void tw_s3_error(tw_request *r, s3_ctx *x, tw_err e, const char *msg);
void tw_s3_error_key(tw_request *r, s3_ctx *x, tw_err e, const char *msg, const char *extra_xml);
void tw_s3_respond_xml(tw_request *r, int status, tw_buf *b);
void tw_s3_xml_begin(tw_buf *b, const char *root);
void tw_s3_xml_text(tw_buf *b, const char *tag, const char *v);
void tw_s3_xml_textn(tw_buf *b, const char *tag, const char *v, size_t n);
const char *tw_s3_q(s3_ctx *x, const char *name); /* query parameter or NULL */
void tw_s3_iso8601(int64_t ms, char out[32]);
void tw_s3_http_date(int64_t ms, char out[40]);
void tw_s3_add_common_headers(tw_request *r);
/* After a commit wait: when the store could not commit the request's batch
 * (rolled back), answers InternalError and returns 1. */
int tw_s3_commit_failed(tw_request *r, s3_ctx *x);

/* s3_bucket.c */
int tw_s3_valid_bucket_name(const char *name);
int tw_s3_bucket_exists(tw_s3 *s, const char *name);
void tw_s3_list_buckets(tw_request *r, s3_ctx *x);
void tw_s3_create_bucket(tw_request *r, s3_ctx *x);
void tw_s3_head_bucket(tw_request *r, s3_ctx *x);
void tw_s3_delete_bucket(tw_request *r, s3_ctx *x);
void tw_s3_get_bucket_location(tw_request *r, s3_ctx *x);

/* s3_object_meta.c: the stored row, the headers and metadata a write stores */
typedef struct {
  int found;
  int64_t size, modified_ms;
  char etag[80], blob[37];
  char *content_type;
  json_t *headers, *meta, *checksum;
  json_t *tags;        /* [[key, value], ...] or NULL (s3_tagging.c) */
  char version_id[40]; /* "null" for the null version (s3_versions.c) */
  int delete_marker;   /* tw_s3_load_version: the version named is a delete marker */
} tw_s3_obj;
void tw_s3_row_free(tw_s3_obj *o);
int tw_s3_load_row(tw_s3 *s, const char *bucket, const char *key, size_t klen, tw_s3_obj *o);
void tw_s3_headers_from_request(tw_request *r, json_t **headers, json_t **meta);
int tw_s3_check_metadata_size(tw_request *r, s3_ctx *x);
/* Writes the object row and its events in one store batch; returns the ticket. */
uint64_t tw_s3_save_row(tw_request *r, s3_ctx *x, const char *event, int64_t size, const char *etag,
                        const char *blob, const char *content_type, json_t *headers, json_t *meta,
                        json_t *checksum);
/* s3_object_put.c */
int tw_s3_finish_body(tw_request *r, s3_ctx *x);
/* A Content-MD5 value (NULL: none) against the body's MD5: BadDigest with the
 * expected and calculated digests when they differ; -1 after answering. */
int tw_s3_check_md5(tw_request *r, s3_ctx *x, const char *want, const uint8_t md5[16]);
/* The body's checksum `got` against the one the client sent (BadDigest), then
 * kept in x->result for the response and the row; -1 after answering. */
int tw_s3_checksum_result(tw_request *r, s3_ctx *x, const char *got);
int tw_s3_put_body(tw_request *r, const char *data, size_t n);
void tw_s3_put_object(tw_request *r, s3_ctx *x);
/* s3_object_get.c */
int tw_s3_etag_matches(const char *list, const char *etag);
int tw_s3_parse_http_date(const char *s, time_t *out);
/* Range: bytes=a-b | a- | -n against an object of `size` bytes (s3_object_get.c;
 * exposed for tests/fuzz). 1: start and len set; 0: none/ignored; -1: unsatisfiable. */
int tw_s3_parse_range(const char *h, int64_t size, int64_t *start, int64_t *len);
/* If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since against the
 * object as GET reads them: 0 to go on, else the status to answer (304, 412). */
int tw_s3_check_conditions(tw_request *r, const tw_s3_obj *o);
void tw_s3_get_object(tw_request *r, s3_ctx *x);
/* s3_object_delete.c */
void tw_s3_delete_object(tw_request *r, s3_ctx *x);
void tw_s3_delete_objects(tw_request *r, s3_ctx *x);
/* DeleteObjects' answer (plain or versioned): closes the DeleteResult in b
 * (taken) and sends it once ticket's batch commits (0: at once), then
 * unlinks blobs (taken), the bodies the deletes freed. */
void tw_s3_delete_objects_answer(tw_request *r, s3_ctx *x, tw_buf *b, json_t *blobs,
                                 uint64_t ticket);
/* One <Error> entry of a DeleteResult (vid NULL: none). */
void tw_s3_delete_error(tw_buf *b, const char *key, const char *vid, const char *code,
                        const char *msg);
/* s3_object_copy.c */
void tw_s3_copy_object(tw_request *r, s3_ctx *x);

/* s3_mpu_upload.c */
void tw_s3_create_multipart(tw_request *r, s3_ctx *x);
int tw_s3_part_begin(tw_request *r, s3_ctx *x);
void tw_s3_upload_part(tw_request *r, s3_ctx *x);
void tw_s3_upload_part_copy(tw_request *r, s3_ctx *x);
/* s3_mpu_complete.c */
void tw_s3_complete_multipart(tw_request *r, s3_ctx *x);
void tw_s3_abort_multipart(tw_request *r, s3_ctx *x);
/* s3_mpu_list.c */
void tw_s3_list_parts(tw_request *r, s3_ctx *x);
void tw_s3_list_uploads(tw_request *r, s3_ctx *x);

/* s3_mpu.c: what a completed multipart upload keeps: its checksum (COMPOSITE or
 * FULL_OBJECT, from the parts') and its part layout (GET/HEAD ?partNumber=). */
typedef struct {
  long num;
  int64_t size, modified_ms;
  char etag[80], blob[37];
  json_t *sums; /* the part's checksums, {"CRC32": "base64", ...}; NULL: none */
} tw_s3_part;
/* CreateMultipartUpload's x-amz-checksum-algorithm and -type; alg NONE when
 * none was asked for. Answers and returns -1 when they are not valid. */
int tw_s3_mpu_create_args(tw_request *r, s3_ctx *x, tw_cksum_alg *alg, int *composite);
/* UploadPart, before the body (after the body's own checksum is set up): the
 * part must carry the upload's algorithm. Answers and returns -1 if not. */
int tw_s3_mpu_part_begin(tw_request *r, s3_ctx *x, tw_cksum_alg alg, int composite);
/* The checksums of a part just received (after tw_s3_finish_body). */
json_t *tw_s3_mpu_part_sums(s3_ctx *x);
/* CompleteMultipartUpload, before the parts are looked up: the checksum
 * headers and each <Part>'s Checksum* element. Answers and returns -1. */
int tw_s3_mpu_check_complete(tw_request *r, s3_ctx *x, tw_cksum_alg alg, int composite,
                             json_t *wanted);
/* Whether <Part> `w` names the checksum stored for part `p` (or none). */
int tw_s3_mpu_part_sum_ok(tw_cksum_alg alg, json_t *w, const tw_s3_part *p);
/* The object's checksum from its parts (checked against the request's header)
 * and its layout for ?partNumber=. Answers and returns -1 on failure. */
int tw_s3_mpu_object_sum(tw_request *r, s3_ctx *x, tw_cksum_alg alg, int composite,
                         tw_s3_part **parts, size_t n, json_t **checksum, json_t **layout);
/* CRC(A||B) from CRC(A), CRC(B) and |B| for CRC32, CRC32C, CRC64NVME (0 otherwise). */
uint64_t tw_s3_crc_combine(tw_cksum_alg alg, uint64_t crc_a, uint64_t crc_b, uint64_t len_b);
/* Adds <ChecksumCRC32>...</ChecksumType> for a stored checksum to a result. */
void tw_s3_mpu_sum_xml(tw_buf *b, json_t *checksum);
/* PutObject/UploadPart, before the body: the checksum the request names, one
 * x-amz-checksum-<alg> header (*value, valid base64) or one x-amz-trailer name
 * (*in_trailer), matching x-amz-sdk-checksum-algorithm; NONE for neither.
 * Answers and returns -1 when S3 would refuse them. */
int tw_s3_put_sum_args(tw_request *r, s3_ctx *x, tw_cksum_alg *alg, const char **value,
                       int *in_trailer);
/* Whether v is exactly (canonical) base64 of a checksum of `alg`. */
int tw_s3_sum_value_ok(tw_cksum_alg alg, const char *v);
typedef struct {
  long number;                /* ?partNumber=, 0 when not asked */
  int64_t start, len;         /* its bytes */
  int count;                  /* parts of a multipart object; 0: one put in one piece */
  char sum[TW_CKSUM_MAX_B64]; /* that part's checksum, "" when unknown */
} tw_s3_part_pick;
/* GET/HEAD, before the object is read: the value's form, and no Range with
 * it. Answers and returns -1 on failure. */
int tw_s3_part_number_arg(tw_request *r, s3_ctx *x, tw_s3_part_pick *p);
/* Which bytes part p->number of `o` is; answers 416 and returns -1 past the last. */
int tw_s3_part_pick_of(tw_request *r, s3_ctx *x, const tw_s3_obj *o, tw_s3_part_pick *p);

/* s3_mpu_upload.c: what the multipart files share. */
typedef struct {
  int found;
  tw_s3_upload row; /* when found */
  tw_cksum_alg alg; /* x-amz-checksum-algorithm; NONE: S3's default CRC64NVME */
  int composite;    /* x-amz-checksum-type COMPOSITE (else FULL_OBJECT) */
} s3_upload_row;
const tw_s3_uploads_repo *tw_s3_mpu_uploads(tw_s3 *s);
void tw_s3_mpu_upload_free(s3_upload_row *u);
/* The upload named by ?uploadId must exist and belong to this bucket and key. */
int tw_s3_mpu_this_upload(tw_request *r, s3_ctx *x, s3_upload_row *u);
/* The same without an answer: 0 found (u filled), -1 not (u freed). */
int tw_s3_mpu_find_upload(s3_ctx *x, s3_upload_row *u);
void tw_s3_mpu_xml_key(tw_buf *b, s3_ctx *x);
/* The upload named by ?uploadId was completed or aborted (NoSuchUpload). */
void tw_s3_mpu_no_such_upload(tw_request *r, s3_ctx *x);
/* The parts of an upload numbered above `after`, by number, at most `limit`. */
tw_s3_part *tw_s3_mpu_load_parts(tw_s3 *s, const char *upload, long after, size_t limit, size_t *n);
void tw_s3_mpu_free_parts(tw_s3_part *p, size_t n);

/* s3_versions.c: bucket versioning, version ids, delete markers */
/* TW_S3_VERSIONING_OFF, _ENABLED or _SUSPENDED (store/s3_objects.h); OFF on error. */
int tw_s3_versioning(tw_s3 *s, const char *bucket);
/* The same from the stored configuration (NULL: none). */
int tw_s3_versioning_of(const char *text);
/* A new version's order (microseconds, increasing) and, for Enabled buckets,
 * its id: opaque, URL-safe, sorting newest first. */
int64_t tw_s3_version_seq(void);
void tw_s3_version_id(int64_t vseq, char out[40]);
/* The object a request names: `vid` is its versionId parameter (NULL: the
 * latest). Returns TW_S3_V_*; o->found only with TW_S3_V_OK (free o with
 * tw_s3_row_free whatever the answer). */
enum {
  TW_S3_V_OK,
  TW_S3_V_NO_KEY,
  TW_S3_V_BAD_ID,
  TW_S3_V_NO_VERSION,
  TW_S3_V_MARKER,
  TW_S3_V_LATEST_MARKER,
  TW_S3_V_ERROR
};
int tw_s3_load_version(tw_s3 *s, const char *bucket, const char *key, size_t klen, const char *vid,
                       tw_s3_obj *o);
/* GET, HEAD, tagging and attributes: loads what the request names (its
 * ?versionId=) and answers as S3 does when it is not an object (-1), else 0
 * with x->version_id set for the answer. */
int tw_s3_load_requested(tw_request *r, s3_ctx *x, tw_s3_obj *o);
void tw_s3_get_versioning(tw_request *r, s3_ctx *x);
void tw_s3_put_versioning(tw_request *r, s3_ctx *x);
void tw_s3_list_versions(tw_request *r, s3_ctx *x);
/* DeleteObject with ?versionId= or in a bucket with versioning configured. */
void tw_s3_delete_versioned(tw_request *r, s3_ctx *x);
/* DeleteObjects in such a bucket, or naming versions: `objs` the <Object>s. */
void tw_s3_delete_objects_versioned(tw_request *r, s3_ctx *x, json_t *objs, int quiet);
/* The version id event records carry (set around tw_s3_notify* calls, under
 * the events lock; NULL: none). */
extern _Thread_local const char *tw_s3_notify_version;

/* s3_attributes.c */
void tw_s3_get_object_attributes(tw_request *r, s3_ctx *x);

/* s3_list.c */
void tw_s3_list_objects(tw_request *r, s3_ctx *x);
/* What ListObjects and ListObjectVersions share: <tag>s[..n]</tag>, url-encoded
 * when enc (encoding-type=url: all but unreserved characters and '/'). */
void tw_s3_list_key(tw_buf *b, const char *tag, const char *s, size_t n, int enc);
/* The ChecksumAlgorithm and ChecksumType of a row's checksums JSON (NULL: none). */
void tw_s3_list_checksum(tw_buf *b, const char *checksums);
/* The encoding-type and max-keys parameters (max-keys at most 1000); an empty
 * max-keys is 0 when empty_max_keys_ok, else refused. 0, or -1 with the error sent. */
int tw_s3_list_params(tw_request *r, s3_ctx *x, int empty_max_keys_ok, int *enc, long *max_keys);

/* s3_notify.c */
void tw_s3_put_notification(tw_request *r, s3_ctx *x);
void tw_s3_get_notification(tw_request *r, s3_ctx *x);
/* Publishes the event records an object change triggers on the bus, in the
 * store batch the caller holds (call between tw_store_hold and
 * tw_store_release, with tw_events_lock held). */
void tw_s3_notify(tw_s3 *s, const char *bucket, const char *key, size_t key_len, const char *event,
                  int64_t size, const char *etag, const char *request_id, const char *principal,
                  const char *source_ip);
/* The same for a request: its trace (X-Amzn-Trace-Id or traceparent) goes with
 * every notification (a queue keeps it as AWSTraceHeader). */
void tw_s3_notify_req(tw_s3 *s, tw_request *r, const char *bucket, const char *key, size_t key_len,
                      const char *event, int64_t size, const char *etag);

/* s3_cors.c */
int tw_s3_cors_open(tw_s3 *s);
void tw_s3_cors_close(tw_s3 *s);
void tw_s3_put_cors(tw_request *r, s3_ctx *x);
void tw_s3_get_cors(tw_request *r, s3_ctx *x);
void tw_s3_delete_cors(tw_request *r, s3_ctx *x);
/* OPTIONS: the preflight, answered from the bucket's rules without authentication. */
void tw_s3_cors_preflight(tw_request *r, s3_ctx *x);
/* Adds Access-Control-* headers to a response when the request has an Origin the
 * bucket's rules allow (called for every S3 response, with x->bucket set or not). */
void tw_s3_cors_add_headers(tw_request *r, s3_ctx *x);
/* Forgets a deleted bucket's rules. */
void tw_s3_cors_bucket_deleted(tw_s3 *s, const char *bucket);

/* s3_policy.c: bucket policies and the authorization of each operation */
int tw_s3_policy_open(tw_s3 *s);
void tw_s3_policy_close(tw_s3 *s);
void tw_s3_policy_bucket_deleted(tw_s3 *s, const char *bucket);
/* 1 when the caller (r->principal; "" anonymous) may run the operation named
 * op on x's bucket/key; 0 with the message of the denial. */
int tw_s3_authorize(tw_request *r, s3_ctx *x, const char *op, char *msg, size_t msglen);
void tw_s3_put_bucket_policy(tw_request *r, s3_ctx *x);
void tw_s3_get_bucket_policy(tw_request *r, s3_ctx *x);
void tw_s3_delete_bucket_policy(tw_request *r, s3_ctx *x);
void tw_s3_get_bucket_policy_status(tw_request *r, s3_ctx *x);
void tw_s3_put_public_access_block(tw_request *r, s3_ctx *x);
void tw_s3_get_public_access_block(tw_request *r, s3_ctx *x);
void tw_s3_delete_public_access_block(tw_request *r, s3_ctx *x);

/* The PublicAccessBlock flags of a bucket (0: none). */
enum { TW_S3_PAB_BLOCK_ACLS = 1, TW_S3_PAB_IGNORE_ACLS = 2 };
unsigned tw_s3_pab_flags(tw_s3 *s, const char *bucket);

/* s3_acl.c, s3_acl_grants.c, s3_acl_http.c: owners, Object Ownership and ACLs
 * (their shared internals: s3_acl_internal.h) */
int tw_s3_acl_open(tw_s3 *s);
void tw_s3_acl_close(tw_s3 *s);
void tw_s3_acl_bucket_deleted(tw_s3 *s, const char *bucket);
/* The caller's owner name: "" for the first user, the user's name for the
 * others, NULL for an anonymous caller. */
const char *tw_s3_caller_owner(tw_request *r, tw_s3 *s);
/* <Owner><ID>canonical id</ID><DisplayName>name</DisplayName></Owner> */
void tw_s3_owner_xml(tw_buf *b, tw_s3 *s, const char *owner);
/* The same for an object of the bucket, from its row's acl column. */
void tw_s3_object_owner_xml(tw_buf *b, tw_s3 *s, const char *bucket, const char *acl_json);
/* Object writes, before the body: the new object's owner and ACL from
 * x-amz-acl / x-amz-grant-* (or a POST form's acl field, canned_acl) into
 * x->acl. 0, or -1 after answering (AccessControlListNotSupported, ...). */
int tw_s3_acl_for_write(tw_request *r, s3_ctx *x, const char *canned_acl);
/* What tw_s3_save_row stores in the row's acl column (malloc'd). */
char *tw_s3_acl_row(tw_request *r, s3_ctx *x);
/* CreateBucket: the owner, x-amz-object-ownership and ACL headers. */
typedef struct {
  char owner[64];
  int ownership;
  char *acl; /* the bucket's acl setting, NULL: private (free it) */
} tw_s3_new_bucket;
int tw_s3_acl_bucket_args(tw_request *r, s3_ctx *x, tw_s3_new_bucket *nb);
/* 1 when the caller owns the existing bucket x->bucket. */
int tw_s3_acl_owns_bucket(tw_request *r, s3_ctx *x);
/* Stores a new bucket's ownership and ACL (in the caller's store batch). */
uint64_t tw_s3_acl_bucket_created(tw_s3 *s, const char *bucket, const tw_s3_new_bucket *nb);
/* 1 when the bucket's or object's ACL grants `action` (an IAM action) to
 * the caller; explicit Denies are the caller's to check. */
int tw_s3_acl_allows(tw_request *r, s3_ctx *x, const char *action, const char *bucket,
                     const char *key);
void tw_s3_get_bucket_acl(tw_request *r, s3_ctx *x);
void tw_s3_put_bucket_acl(tw_request *r, s3_ctx *x);
void tw_s3_get_object_acl(tw_request *r, s3_ctx *x);
void tw_s3_put_object_acl(tw_request *r, s3_ctx *x);
void tw_s3_put_ownership_controls(tw_request *r, s3_ctx *x);
void tw_s3_get_ownership_controls(tw_request *r, s3_ctx *x);
void tw_s3_delete_ownership_controls(tw_request *r, s3_ctx *x);

/* s3_post.c: browser uploads with a POST policy (multipart/form-data) */
int tw_s3_post_open(tw_s3 *s);
void tw_s3_post_close(tw_s3 *s);
int tw_s3_is_post_upload(tw_request *r, s3_ctx *x);
int tw_s3_post_body(tw_request *r, const char *data, size_t n); /* on_body; n=0 first */
void tw_s3_post_object(tw_request *r, s3_ctx *x);

/* s3_gc.c: the body each key and part will name once what was appended
 * commits, and the sweep of bodies no row names. All but open/close/tick with
 * s->mu held. */
int tw_s3_gc_open(tw_s3 *s); /* the start-up sweep: before serving */
void tw_s3_gc_close(tw_s3 *s);
void tw_s3_gc_tick(tw_s3 *s); /* the running sweep, when due (sweeper thread) */
int64_t tw_s3_gc_period_ms(tw_s3 *s);
/* The body the object's row names once the writes in flight commit: 1 with
 * blob set, 0 when there is no row, -1 on error. *wait: the ticket of the
 * write in flight the answer came from (a no-op must wait for it), else 0. */
int tw_s3_gc_object(tw_s3 *s, const char *bucket, const char *key, size_t klen, char blob[37],
                    uint64_t *wait);
/* A write of the object's row (blob NULL: deleted) appended in batch `ticket`. */
void tw_s3_gc_object_set(tw_s3 *s, const char *bucket, const char *key, size_t klen,
                         const char *blob, uint64_t ticket);
int tw_s3_gc_part(tw_s3 *s, const char *upload, long num, char blob[37], uint64_t *wait);
void tw_s3_gc_part_set(tw_s3 *s, const char *upload, long num, const char *blob, uint64_t ticket);
/* 1 when the upload exists and no write in flight ends it, 0 when not, -1 on error. */
int tw_s3_gc_upload_live(tw_s3 *s, const char *upload, uint64_t *wait);
void tw_s3_gc_upload_ended(tw_s3 *s, const char *upload, uint64_t ticket);
/* The bodies of an upload's parts, writes in flight included (a JSON array). */
json_t *tw_s3_gc_upload_parts(tw_s3 *s, const char *upload);
/* After a write's commit wait: on failure answers InternalError, unlinks
 * x->new_blob and returns -1; else unlinks x->old_blob, the body replaced. */
int tw_s3_write_settled(tw_request *r, s3_ctx *x);

/* s3_lifecycle.c: lifecycle rules and the sweeper that applies them */
int tw_s3_lifecycle_open(tw_s3 *s);   /* loads rules, starts the sweeper */
void tw_s3_lifecycle_close(tw_s3 *s); /* stops the sweeper */
void tw_s3_put_lifecycle(tw_request *r, s3_ctx *x);
void tw_s3_get_lifecycle(tw_request *r, s3_ctx *x);
void tw_s3_delete_lifecycle(tw_request *r, s3_ctx *x);
void tw_s3_lifecycle_bucket_deleted(tw_s3 *s, const char *bucket);
/* Cluster mode (s3_cluster.c): the bucket's cached settings are read again
 * from the store (another node changed them); under s->mu. */
void tw_s3_cors_reload(tw_s3 *s, const char *bucket);
void tw_s3_policy_reload(tw_s3 *s, const char *bucket);
void tw_s3_acl_reload(tw_s3 *s, const char *bucket);
void tw_s3_lifecycle_reload(tw_s3 *s, const char *bucket);
/* s3_cluster.c. Open before the caches load; close after. */
int tw_s3_cluster_open(tw_s3 *s);
void tw_s3_cluster_close(tw_s3 *s);
/* Before a request naming a bucket is authorized: reads the bucket's row
 * (existence, versioning, settings version) into x->bk_*, and reloads the
 * bucket's cached settings when another node changed them since. */
void tw_s3_cluster_sync(tw_s3 *s, s3_ctx *x);
/* The bucket's existence and versioning as the request read them first
 * (cluster mode), else read now. */
int tw_s3_req_bucket_exists(s3_ctx *x);
int tw_s3_req_versioning(s3_ctx *x);
/* x-amz-expiration when an enabled rule will expire the object (GET, HEAD). */
void tw_s3_lifecycle_expiration_header(tw_request *r, s3_ctx *x, const tw_s3_obj *o);
/* The same after a write (PUT, copy, completion): reads the stored row. */
void tw_s3_lifecycle_written(tw_request *r, s3_ctx *x);
/* x-amz-abort-date and x-amz-abort-rule-id for a new multipart upload. */
void tw_s3_lifecycle_abort_headers(tw_request *r, s3_ctx *x, int64_t initiated_ms);

/* s3_tagging.c: object tags, stored as JSON [[key, value], ...] */
/* x-amz-tagging (or its presigned query parameter) -> x->tags; answers and
 * returns -1 when it is not valid. */
int tw_s3_tags_from_header(tw_request *r, s3_ctx *x);
/* CopyObject: x-amz-tagging-directive COPY (the source's tags) or REPLACE. */
int tw_s3_tags_for_copy(tw_request *r, s3_ctx *x, json_t *source_tags);
/* Content-MD5 / x-amz-checksum-* of a buffered body and a signed payload hash;
 * answers and returns -1 on failure. missing: the InvalidRequest message when
 * neither digest came (NULL: both optional; the wording differs by API). */
#define TW_S3_MISSING_DIGEST \
  "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"
int tw_s3_check_body_digests(tw_request *r, s3_ctx *x, const char *missing);
char *tw_s3_tags_dump(json_t *tags);       /* stored text (free it), NULL when none */
json_t *tw_s3_tags_load(const char *text); /* NULL when none */
void tw_s3_put_object_tagging(tw_request *r, s3_ctx *x);
void tw_s3_get_object_tagging(tw_request *r, s3_ctx *x);
void tw_s3_delete_object_tagging(tw_request *r, s3_ctx *x);
void tw_s3_put_bucket_tagging(tw_request *r, s3_ctx *x);
void tw_s3_get_bucket_tagging(tw_request *r, s3_ctx *x);
void tw_s3_delete_bucket_tagging(tw_request *r, s3_ctx *x);

#endif
