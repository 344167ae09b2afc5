/* The AWS query protocol's form (SQS, SNS, CloudWatch's older clients):
 * application/x-www-form-urlencoded pairs, one of them the Action. */
#ifndef TW_HTTP_QUERY_FORM_H
#define TW_HTTP_QUERY_FORM_H
#include <stddef.h>

typedef void (*tw_query_param_fn)(void *ud, const char *key, const char *value, size_t len);

/* Walks the form: Action's value goes to action; every other parameter except
 * the protocol's and the signature's own (Version, X-Amz-*, SigV2's fields)
 * goes to fn, percent-decoded ('+' as space; the value may hold NULs). */
void tw_query_form(const char *s, size_t n, char *action, size_t alen, tw_query_param_fn fn,
                   void *ud);

#endif
