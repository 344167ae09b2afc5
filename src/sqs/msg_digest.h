/* The MD5 digests SQS returns for message attributes (MD5OfMessageAttributes)
 * and system attributes (MD5OfMessageSystemAttributes). SDKs recompute them and
 * reject the response when they differ. */
#ifndef TW_SQS_MSG_DIGEST_H
#define TW_SQS_MSG_DIGEST_H
#include <jansson.h>

/* attrs: the JSON-protocol map {"Name": {"DataType": "String"|"Number"|"Binary"
 * (optionally with a ".custom" suffix), "StringValue": "...", "BinaryValue":
 * "<base64>"}}. For each attribute in byte order of the names: name, data type
 * (each as a 4-byte big-endian length and the UTF-8 bytes), one transport byte
 * (1 String/Number, 2 Binary), then the value (length + UTF-8, or length +
 * decoded bytes); out is the lower-case hex MD5 of that. Returns 0, or -1 when
 * attrs is not such a map (unknown data type, missing value, bad base64).
 * An empty map gives the MD5 of nothing: AWS omits the field then. */
int tw_sqs_md5_message_attributes(json_t *attrs, char out[33]);

/* The same encoding over the system-attributes map ({"AWSTraceHeader":
 * {"DataType": "String", "StringValue": "Root=..."}}). */
int tw_sqs_md5_system_attributes(json_t *attrs, char out[33]);

#endif
