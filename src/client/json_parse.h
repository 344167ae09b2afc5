/* A strict, fast JSON (RFC 8259) parser into jansson values, for the
 * responses tweedle's clients read on every call. jansson's own decoder
 * spends ~20 us per KiB (a stream read a byte at a time): for a worker that
 * is most of its CPU per batch. This one scans runs of plain bytes at once
 * and builds the values with the *_nocheck constructors, after checking the
 * UTF-8 itself.
 *
 * Accepts exactly what json_loadb(s, n, JSON_DECODE_ANY, ...) accepts, with
 * the same values: any value at the top; strings must be valid UTF-8 (no
 * overlong forms, no surrogates) and may not contain U+0000; \uXXXX escapes
 * with surrogate pairs; integers that fit json_int_t become integers, other
 * numbers reals; a repeated object key keeps the last value. Nesting is
 * limited to 2048 levels (jansson's limit). One difference: jansson's reader
 * takes a NUL byte for the end of the input (json_loadb reads "8\0" as 8); a
 * NUL byte is never valid JSON, and tw_json_parse refuses it. */
#ifndef TW_CLIENT_JSON_PARSE_H
#define TW_CLIENT_JSON_PARSE_H
#include <jansson.h>
#include <stddef.h>

/* NULL with a message in err (may be NULL) when s is not one JSON value. */
json_t *tw_json_parse(const char *s, size_t n, char *err, size_t errlen);

/* The server's fast path for request bodies (the SQS JSON protocol): an
 * object exactly as json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
 * returns it, or NULL — malformed input, a repeated key, a \u0000 escape, a
 * top level that is not an object — when the caller should ask jansson, whose
 * answer and error text then stay what they were. */
json_t *tw_json_parse_object_fast(const char *s, size_t n);

#endif
