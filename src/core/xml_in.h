/* Small XML request bodies (S3 configurations, DeleteObjects, multipart
 * completion) read into a jansson tree: an element becomes an object of its
 * children, a repeated element an array, a leaf its text. Namespaces dropped.
 * Returns NULL when the XML is not well-formed. */
#ifndef TW_CORE_XML_IN_H
#define TW_CORE_XML_IN_H
#include <jansson.h>
#include <stddef.h>

json_t *tw_xml_parse(const char *data, size_t len, char **root_name);
/* Always an array: the child `name` of o as a list (empty when absent). */
json_t *tw_xml_list(json_t *o, const char *name);
const char *tw_xml_text(json_t *o, const char *name);

#endif
