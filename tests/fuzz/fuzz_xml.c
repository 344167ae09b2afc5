/* The XML reader behind every S3 XML body, then the accessors handlers use on
 * the result (the shapes of CompleteMultipartUpload, DeleteObjects, tagging,
 * CORS, lifecycle and notification configurations). */
#include "core/xml_in.h"
#include "fuzz_util.h"

static void walk(json_t *o, int depth) {
  if (depth > 64) return;
  static const char *names[] = {"Part",          "PartNumber", "ETag",     "Object",
                                "Key",           "VersionId",  "Quiet",    "TagSet",
                                "Tag",           "Value",      "CORSRule", "AllowedOrigin",
                                "AllowedMethod", "Rule",       "Filter",   "Prefix",
                                "And",           "Expiration", "Days",     "QueueConfiguration",
                                "Event",         "FilterRule", "Name"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    tw_xml_text(o, names[i]);
    json_t *list = tw_xml_list(o, names[i]);
    size_t j;
    json_t *e;
    json_array_foreach(list, j, e) walk(e, depth + 1);
    json_decref(list);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  memcpy(copy, data, size);
  char *root = NULL;
  json_t *doc = tw_xml_parse(copy, size, &root);
  if (doc) walk(doc, 0);
  json_decref(doc);
  free(root);
  free(copy);
  return 0;
}
