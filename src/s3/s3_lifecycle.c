/* Lifecycle rules (expiration, incomplete-upload abort), object tagging that
 * their filters match on, and the sweeper thread that applies them. */
#include "s3/s3_internal.h"

int tw_s3_lifecycle_open(tw_s3 *s) { (void)s; return 0; }
void tw_s3_lifecycle_close(tw_s3 *s) { (void)s; }
void tw_s3_put_lifecycle(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_get_lifecycle(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_delete_lifecycle(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_put_object_tagging(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_get_object_tagging(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_delete_object_tagging(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
void tw_s3_lifecycle_bucket_deleted(tw_s3 *s, const char *bucket) { (void)s; (void)bucket; }
