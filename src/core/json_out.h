/* A fast JSON writer for jansson values: one pass into a tw_buf, no reallocs per
 * token (json_dumps showed up as a seventh of the server's time in profiles). */
#ifndef TW_CORE_JSON_OUT_H
#define TW_CORE_JSON_OUT_H
#include <jansson.h>

#include "core/buf.h"

int tw_json_write(tw_buf *b, const json_t *v);
/* Appends s (n bytes) as a JSON string literal, quotes included. */
int tw_json_write_string(tw_buf *b, const char *s, size_t n);

#endif
