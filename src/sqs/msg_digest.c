/* MD5 of SQS message attributes, fed piece by piece into one MD5 state so no
 * buffer of the whole encoding is ever built. */
#include "sqs/msg_digest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"

enum { TRANSPORT_STRING = 1, TRANSPORT_BINARY = 2 };

/* "String", "Number", "Binary", each alone or followed by ".custom". */
static int transport_of(const char *type) {
  static const struct {
    const char *prefix;
    int transport;
  } kinds[] = {
      {"String", TRANSPORT_STRING}, {"Number", TRANSPORT_STRING}, {"Binary", TRANSPORT_BINARY}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    size_t n = strlen(kinds[i].prefix);
    if (strncmp(type, kinds[i].prefix, n) == 0 && (type[n] == '\0' || type[n] == '.'))
      return kinds[i].transport;
  }
  return -1;
}

static void put_len(tw_hash *h, size_t n) {
  uint8_t b[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
  tw_hash_update(h, b, 4);
}

static void put_field(tw_hash *h, const void *p, size_t n) {
  put_len(h, n);
  tw_hash_update(h, p, n);
}

static int name_cmp(const void *a, const void *b) {
  /* strcmp compares as unsigned char: byte order of the UTF-8 names. */
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int add_attribute(tw_hash *h, const char *name, json_t *attr) {
  json_t *type = json_object_get(attr, "DataType");
  if (!json_is_string(type)) return -1;
  const char *t = json_string_value(type);
  int transport = transport_of(t);
  if (transport < 0) return -1;
  json_t *value =
      json_object_get(attr, transport == TRANSPORT_BINARY ? "BinaryValue" : "StringValue");
  if (!json_is_string(value)) return -1;

  put_field(h, name, strlen(name));
  put_field(h, t, json_string_length(type));
  uint8_t tb = (uint8_t)transport;
  tw_hash_update(h, &tb, 1);
  if (transport == TRANSPORT_STRING) {
    put_field(h, json_string_value(value), json_string_length(value));
    return 0;
  }
  size_t n = json_string_length(value);
  uint8_t *bytes = malloc(3 * (n / 4) + 3);
  if (!bytes) return -1;
  long len = tw_base64_decode(json_string_value(value), n, bytes);
  if (len >= 0) put_field(h, bytes, (size_t)len);
  free(bytes);
  return len < 0 ? -1 : 0;
}

static int md5_attributes(json_t *attrs, char out[33]) {
  if (!json_is_object(attrs)) return -1;
  size_t n = json_object_size(attrs);
  const char **names = malloc((n ? n : 1) * sizeof *names);
  tw_hash *h = tw_hash_md5_new();
  int rc = -1;
  if (!names || !h) goto done;
  size_t i = 0;
  const char *key;
  json_t *val;
  json_object_foreach(attrs, key, val) names[i++] = key;
  qsort(names, n, sizeof *names, name_cmp);
  for (i = 0; i < n; i++)
    if (add_attribute(h, names[i], json_object_get(attrs, names[i]))) goto done;
  uint8_t digest[16];
  tw_hash_final(h, digest);
  tw_hex(digest, 16, out);
  rc = 0;
done:
  free(names);
  if (h) tw_hash_free(h);
  return rc;
}

int tw_sqs_md5_message_attributes(json_t *attrs, char out[33]) {
  return md5_attributes(attrs, out);
}

int tw_sqs_md5_system_attributes(json_t *attrs, char out[33]) {
  return md5_attributes(attrs, out);
}
