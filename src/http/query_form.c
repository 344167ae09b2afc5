#include "http/query_form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/request.h"

static int protocol_param(const char *k) {
  return !strcmp(k, "Action") || !strcmp(k, "Version") || !strncmp(k, "X-Amz-", 6) ||
         !strcmp(k, "AWSAccessKeyId") || !strncmp(k, "Signature", 9) || !strcmp(k, "Timestamp") ||
         !strcmp(k, "Expires");
}

void tw_query_form(const char *s, size_t n, char *action, size_t alen, tw_query_param_fn fn,
                   void *ud) {
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != '&') j++;
    const char *eq = memchr(s + i, '=', j - i);
    size_t klen = eq ? (size_t)(eq - (s + i)) : j - i;
    char *k = tw_url_decode(s + i, klen, 1);
    size_t vlen = 0;
    char *v = eq ? tw_url_decode_len(eq + 1, j - i - klen - 1, 1, &vlen) : strdup("");
    if (!strcmp(k, "Action"))
      snprintf(action, alen, "%s", v);
    else if (*k && !protocol_param(k))
      fn(ud, k, v, vlen);
    free(k);
    free(v);
    i = j + 1;
  }
}
