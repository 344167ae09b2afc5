/* A growable byte buffer that declares its maximum: appends past `cap` fail
 * (and latch `overflow`) instead of growing without bound. */
#ifndef TW_CORE_BUF_H
#define TW_CORE_BUF_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *data;
  size_t len, alloc, cap;
  int overflow;
} tw_buf;

void tw_buf_init(tw_buf *b, size_t cap);
void tw_buf_free(tw_buf *b);
void tw_buf_reset(tw_buf *b);
int tw_buf_append(tw_buf *b, const void *p, size_t n); /* 0 ok, -1 cap or ENOMEM */
/* Makes room for n more bytes up front (no effect past the cap). */
void tw_buf_reserve(tw_buf *b, size_t n);
int tw_buf_puts(tw_buf *b, const char *s);
int tw_buf_putc(tw_buf *b, char c);
int tw_buf_printf(tw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* XML text escaping of n bytes (& < > " ' and control characters as &#xN;). */
int tw_buf_xml_escape(tw_buf *b, const char *s, size_t n);
/* NUL-terminates (not counted in len) and returns data ("" if empty). */
const char *tw_buf_cstr(tw_buf *b);
/* Hands over ownership of data to the caller (NUL-terminated). */
char *tw_buf_detach(tw_buf *b, size_t *len);

#endif
