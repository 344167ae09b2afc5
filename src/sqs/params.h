/* Reading and validating request parameters (JSON-protocol shape; the query
 * front end has already turned its flattened form into the same shape). */
#ifndef TW_SQS_PARAMS_H
#define TW_SQS_PARAMS_H
#include <jansson.h>

#include "sqs/sqs.h"

const char *tw_p_str(json_t *in, const char *k);
/* Integer parameter: JSON number or decimal string. Returns 1 present, 0 absent,
 * -1 invalid (error already set on c). */
int tw_p_int(tw_sqs_call *c, json_t *in, const char *k, long long *out);
/* Range check with AWS's message: "Value X for parameter K is invalid. Reason: ..." */
int tw_p_range(tw_sqs_call *c, const char *k, long long v, long long lo, long long hi,
               const char *reason);
/* Validates a message body against SQS's allowed character set. */
int tw_p_valid_body(const char *s, size_t n);
/* Validates message attributes; sets the error and returns -1 when invalid.
 * *size receives the bytes they count toward the message size. */
int tw_p_message_attributes(tw_sqs_call *c, json_t *attrs, size_t *size);
int tw_p_valid_queue_name(const char *name, int fifo);

#endif
