/* Small text helpers the request-signature checkers (SigV2, SigV4) share. */
#ifndef TW_AUTH_TEXT_H
#define TW_AUTH_TEXT_H
#include <stddef.h>

#include "auth/sigv4.h" /* tw_kv */

/* ASCII case-insensitive equality of a[0..an) and b[0..bn). */
int tw_auth_ieq(const char *a, size_t an, const char *b, size_t bn);
/* The value of a hex digit, or -1. */
int tw_auth_hexval(int c);
/* Percent-decoding into out (may be in); a '%' not followed by two hex digits
 * stays literal; plus: '+' means space. Returns the decoded length. */
size_t tw_auth_pct_decode(const char *in, size_t n, char *out, int plus);
/* snprintf into an optional message buffer (buf NULL or len 0: nothing). */
void tw_auth_setmsg(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A header's value by case-insensitive name ("" for a NULL value), or NULL. */
const char *tw_auth_header(const tw_kv *headers, size_t n, const char *name);

#endif
