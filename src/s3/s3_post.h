/* Internals shared by s3_post.c (the multipart/form-data stream, the object)
 * and s3_post_policy.c (authentication and the POST policy). */
#ifndef TW_S3_POST_H
#define TW_S3_POST_H
#include <stddef.h>
#include <stdint.h>

#include "s3/s3_internal.h"

#define TW_POST_PRE_DATA_MAX 20480 /* form bytes before the file's content, as S3 */

typedef struct {
  char *name;  /* as sent */
  char *value; /* NUL-terminated; may hold NUL bytes */
  size_t vlen;
} tw_post_field;

typedef struct {
  tw_post_field *fields;
  size_t n, cap;
  /* what the checks decided */
  uint64_t min_size, max_size; /* content-length-range, or 0..5 GiB */
} tw_post_form;

/* The field named `name` (any case), or NULL. */
tw_post_field *tw_post_get(tw_post_form *f, const char *name);
const char *tw_post_value(tw_post_form *f, const char *name);

/* Authenticates the form (SigV4 or SigV2 signature of the policy) and checks it
 * against the policy: expiration, conditions, fields no condition covers. Sets
 * r->principal and f->min_size/max_size. Answers and returns -1 on failure. */
int tw_post_authorize(tw_request *r, s3_ctx *x, tw_post_form *f);

/* For tests/fuzz, the two parsers alone. tw_post_check_policy: the policy
 * field (base64 JSON) against the form, as tw_post_authorize does once the
 * signature is right (v2: SigV2's fields are exempt). tw_s3_post_parse_form:
 * r's Content-Type, then n body bytes fed `piece` at a time, up to the file
 * part (its ${filename} expansion done; nothing authorised or stored); then
 * done(ud, r, x, form) when the form parsed. Both: 0, or -1 (r answered,
 * except for an oversized ${filename} expansion). */
int tw_post_check_policy(tw_request *r, s3_ctx *x, tw_post_form *f, int v2);
int tw_s3_post_parse_form(tw_request *r, s3_ctx *x, const char *data, size_t n, size_t piece,
                          void (*done)(void *ud, tw_request *r, s3_ctx *x, tw_post_form *f),
                          void *ud);

#endif
