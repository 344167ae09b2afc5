#include "sqs/params.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "sqs/sqs_internal.h"

const char *tw_p_str(json_t *in, const char *k) {
  json_t *v = json_object_get(in, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

int tw_p_int(tw_sqs_call *c, json_t *in, const char *k, long long *out) {
  json_t *v = json_object_get(in, k);
  if (!v || json_is_null(v)) return 0;
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return 1;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*s && !*end && !errno) {
      *out = x;
      return 1;
    }
    tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                "Value %s for parameter %s is invalid. Reason: Must be an integer.", s, k);
    return -1;
  }
  tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "Value for parameter %s is invalid.", k);
  return -1;
}

int tw_p_range(tw_sqs_call *c, const char *k, long long v, long long lo, long long hi,
               const char *reason) {
  if (v >= lo && v <= hi) return 0;
  tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
              "Value %lld for parameter %s is invalid. Reason: %s", v, k, reason);
  return -1;
}

/* Decodes UTF-8 and checks #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF. */
int tw_p_valid_body(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    unsigned cp;
    int len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      len = 4;
    } else {
      return 0;
    }
    if (i + (size_t)len > n) return 0;
    for (int k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
      return 0; /* overlong */
    int ok = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
             (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
    if (!ok) return 0;
    i += (size_t)len;
  }
  return 1;
}

static int valid_attr_name(const char *n) {
  size_t len = strlen(n);
  if (len == 0 || len > 256) return 0;
  if (n[0] == '.' || n[len - 1] == '.' || strstr(n, "..")) return 0;
  if (strncasecmp(n, "AWS.", 4) == 0 || strncasecmp(n, "Amazon.", 7) == 0) return 0;
  for (size_t i = 0; i < len; i++) {
    char ch = n[i];
    if (!isalnum((unsigned char)ch) && ch != '_' && ch != '-' && ch != '.') return 0;
  }
  return 1;
}

static int valid_number(const char *s) {
  const char *p = s;
  if (*p == '+' || *p == '-') p++;
  int digits = 0, dot = 0;
  for (; *p; p++) {
    if (isdigit((unsigned char)*p))
      digits++;
    else if (*p == '.' && !dot)
      dot = 1;
    else if ((*p == 'e' || *p == 'E') && digits) {
      p++;
      if (*p == '+' || *p == '-') p++;
      if (!isdigit((unsigned char)*p)) return 0;
      while (isdigit((unsigned char)*p)) p++;
      return *p == 0 && digits <= 38;
    } else
      return 0;
  }
  return digits > 0 && digits <= 38;
}

int tw_p_message_attributes(tw_sqs_call *c, json_t *attrs, size_t *size) {
  *size = 0;
  if (!attrs || json_is_null(attrs)) return 0;
  if (!json_is_object(attrs)) {
    tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "MessageAttributes must be a map.");
    return -1;
  }
  if (json_object_size(attrs) > 10) {
    tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                "Number of message attributes [%zu] exceeds the allowed maximum [10].",
                json_object_size(attrs));
    return -1;
  }
  const char *name;
  json_t *a;
  json_object_foreach(attrs, name, a) {
    if (!valid_attr_name(name)) {
      tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                  "Message (user) attribute name '%s' is invalid. The attribute name can contain "
                  "A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters.",
                  name);
      return -1;
    }
    const char *type = tw_p_str(a, "DataType");
    if (!type || !*type) {
      tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                  "The message attribute '%s' must contain non-empty message attribute type.",
                  name);
      return -1;
    }
    int is_bin = strncmp(type, "Binary", 6) == 0 && (type[6] == 0 || type[6] == '.');
    int is_str = strncmp(type, "String", 6) == 0 && (type[6] == 0 || type[6] == '.');
    int is_num = strncmp(type, "Number", 6) == 0 && (type[6] == 0 || type[6] == '.');
    if ((!is_bin && !is_str && !is_num) || strlen(type) > 256) {
      tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                  "The type of message (user) attribute '%s' is invalid. You must use only the "
                  "following supported type prefixes: Binary, Number, String.",
                  name);
      return -1;
    }
    if (json_object_get(a, "StringListValues") || json_object_get(a, "BinaryListValues")) {
      json_t *l1 = json_object_get(a, "StringListValues"),
             *l2 = json_object_get(a, "BinaryListValues");
      if ((json_is_array(l1) && json_array_size(l1)) ||
          (json_is_array(l2) && json_array_size(l2))) {
        tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                    "Message attribute list values in SendMessage operation are not supported.");
        return -1;
      }
    }
    *size += strlen(name) + strlen(type);
    if (is_bin) {
      const char *v = tw_p_str(a, "BinaryValue");
      if (!v || !*v) {
        tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                    "Message (user) attribute '%s' must contain a non-empty value of type '%s'.",
                    name, "Binary");
        return -1;
      }
      size_t n = strlen(v);
      uint8_t *tmp = malloc(n + 4);
      long dl = tw_base64_decode(v, n, tmp);
      free(tmp);
      if (dl < 0) {
        tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                    "The message (user) attribute '%s' has an invalid binary value.", name);
        return -1;
      }
      *size += (size_t)dl;
    } else {
      const char *v = tw_p_str(a, "StringValue");
      if (!v || !*v) {
        tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                    "Message (user) attribute '%s' must contain a non-empty value of type '%s'.",
                    name, is_num ? "Number" : "String");
        return -1;
      }
      if (!tw_p_valid_body(v, strlen(v))) {
        tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                    "The message (user) attribute '%s' contains invalid characters.", name);
        return -1;
      }
      if (is_num && !valid_number(v)) {
        tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                    "Can't cast the value of message (user) attribute '%s' to a number.", name);
        return -1;
      }
      *size += strlen(v);
    }
  }
  return 0;
}

int tw_p_valid_queue_name(const char *name, int fifo) {
  size_t len = strlen(name);
  size_t base = len;
  if (fifo) {
    if (len < 5 || strcmp(name + len - 5, ".fifo") != 0) return 0;
    base = len - 5;
  }
  if (len == 0 || len > 80 || base == 0) return 0;
  for (size_t i = 0; i < base; i++) {
    char ch = name[i];
    if (!isalnum((unsigned char)ch) && ch != '_' && ch != '-') return 0;
  }
  return 1;
}
