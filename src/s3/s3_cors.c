/* Per-bucket CORS: Put/Get/DeleteBucketCors, OPTIONS preflight, and the
 * Access-Control-* headers on ordinary responses. */
#include "s3/s3_internal.h"

int tw_s3_cors_open(tw_s3 *s) { (void)s; return 0; }
void tw_s3_cors_close(tw_s3 *s) { (void)s; }
void tw_s3_put_cors(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_get_cors(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_delete_cors(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_cors_preflight(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_cors_add_headers(tw_request *r, s3_ctx *x) { (void)r; (void)x; }
void tw_s3_cors_bucket_deleted(tw_s3 *s, const char *bucket) { (void)s; (void)bucket; }
