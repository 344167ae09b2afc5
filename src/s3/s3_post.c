/* Browser uploads: POST with a signed policy, multipart/form-data. */
#include "s3/s3_internal.h"

int tw_s3_post_open(tw_s3 *s) { (void)s; return 0; }
void tw_s3_post_close(tw_s3 *s) { (void)s; }
int tw_s3_is_post_upload(tw_request *r, s3_ctx *x) { (void)r; (void)x; return 0; }
int tw_s3_post_body(tw_request *r, const char *data, size_t n) { (void)r; (void)data; (void)n; return 0; }
void tw_s3_post_object(tw_request *r, s3_ctx *x) { tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED, NULL); }
