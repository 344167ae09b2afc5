/* S3's operations as data: which request is which AWS operation, its handler,
 * and what it does with the body. The name is what logs (and later metrics,
 * limits and policies) call the request: PutObject, ListObjectsV2, ... */
#ifndef TW_S3_OPS_H
#define TW_S3_OPS_H
#include "s3/s3_internal.h"

typedef enum { S3_AT_SERVICE, S3_AT_BUCKET, S3_AT_OBJECT } s3_level;
typedef enum { S3_COPY_ANY, S3_COPY_NO, S3_COPY_YES } s3_copy; /* x-amz-copy-source */

enum {
  S3_OP_WRITES = 1,      /* changes stored state */
  S3_OP_STREAMS_BODY = 2 /* the body is streamed to a blob, not buffered */
};

typedef struct {
  const char *name;   /* the AWS operation name */
  const char *method; /* NULL: any method (refused subresources) */
  s3_level level;
  const char *sub; /* the query subresource that selects it, or NULL */
  s3_copy copy;
  s3_handler fn;
  unsigned flags;
} s3_op;

/* The operation a request names, or NULL (S3 answers 405 MethodNotAllowed). */
const s3_op *tw_s3_find_op(const tw_request *r, const s3_ctx *x);

/* Requests decided before the table: CORS preflights and POST-policy uploads. */
extern const s3_op tw_s3_op_preflight, tw_s3_op_post_object;

#endif
